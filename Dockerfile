# Images for the greenhouse queue. Two targets:
#   cpu (the default, last stage): python slim; db tools, migrate, producer and CPU consumers.
#   gpu: the CUDA 12 runtime plus cupy-cuda12x, for the consumer-gpu service.
# Build stages install the project's wheel into /opt/venv; the final stages copy only that venv,
# so compilers, pip caches, build inputs and the source tree never reach a runtime image.
#
#   docker build --target cpu -t greenhouse-queue:cpu .
#   docker build --target gpu -t greenhouse-queue:gpu .

# ---------------------------------------------------------------- source: what the wheel is built from
# sql/ and migrations/ are package data of greenhouse_queue, so an installed wheel needs no tree.
FROM scratch AS source
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY common/ common/
COPY consumer/ consumer/
COPY producer/ producer/
COPY sql/ sql/
COPY migrations/ migrations/

# ---------------------------------------------------------------- cpu-build
FROM python:3.11.13-slim-bookworm AS cpu-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first, from pyproject alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt "setuptools>=68"
COPY --from=source /app /app
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && rm -rf /app/build

# ---------------------------------------------------------------- gpu-build
FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04 AS gpu-build
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Ubuntu 24.04's python3 is 3.12 (the project needs >= 3.11); versions come with the pinned base.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['gpu']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt "setuptools>=68"
COPY --from=source /app /app
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && rm -rf /app/build

# ---------------------------------------------------------------- gpu
FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04 AS gpu
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /app app \
    && install -d -o app -g app /run/gpu-slots
COPY --from=gpu-build /opt/venv /opt/venv
COPY docker/gpu_slot.py /usr/local/bin/gpu-slot
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONSUMER_DEVICE=gpu \
    CONSUMER_HEALTH_FILE=/tmp/consumer-alive
WORKDIR /app
USER 10001:10001
# Healthy = this container's worker loop touched its heartbeat file recently AND the database
# answers; a consumer stuck in a batch or cut off from PostgreSQL turns unhealthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["consumer", "health"]
CMD ["gpu-slot", "consumer", "run"]

# ---------------------------------------------------------------- cpu (default target)
FROM python:3.11.13-slim-bookworm AS cpu
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app app
COPY --from=cpu-build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONSUMER_DEVICE=cpu \
    CONSUMER_HEALTH_FILE=/tmp/consumer-alive
WORKDIR /app
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["consumer", "health"]
CMD ["consumer", "run"]
